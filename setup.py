"""Only here because `cffi_modules` cannot be expressed in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["build_ffi.py:ffibuilder"])
