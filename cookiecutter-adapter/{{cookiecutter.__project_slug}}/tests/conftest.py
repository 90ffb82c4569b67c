"""Test settings: calibration stores (memorized properties, `self.calibration`) go to a
throwaway directory, never the real one of whoever runs the tests."""

import os
import tempfile

os.environ.setdefault("MMKERNEL_DATA_DIR", tempfile.mkdtemp(prefix="mmkernel-test-data-"))
