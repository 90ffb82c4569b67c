"""Settings for every test of this repository (tests/ and the plugins' own tests)."""

import os
import tempfile

# Every camera initialized in the tests gets a small buffer (the default is 1024 MB).
os.environ.setdefault("MMKERNEL_BUFFER_MB", "32")
# Calibration stores go to a throwaway directory, never the user's real one.
os.environ.setdefault("MMKERNEL_DATA_DIR", tempfile.mkdtemp(prefix="mmkernel-test-data-"))
