"""{{ cookiecutter.vendor }} {{ cookiecutter.instrument }} for MMKernel."""
