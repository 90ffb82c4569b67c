"""{{ cookiecutter.__vendor_q }} {{ cookiecutter.__instrument_q }} for MMKernel."""
