"""The kernel's and the SDK's tests, laid out like the packages (see tests/support for shared helpers)."""
