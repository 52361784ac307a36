"""The reliability suite: every bad input and fault, with its outcome.

Each case ends in a correct result or one clear message naming the file and the fix:
never a raw stack trace, never a silently wrong model. Cases tested elsewhere are
listed here with their test, so this folder is the complete table:

- SIGKILL during training, resumed by the same command: tests/training/test_resume.py
- NaN loss (message with causes, checkpoints kept): tests/training/test_engine.py
- SIGKILL and disk-full during export: tests/export/test_bundle.py
- int8 calibration broken: tests/export/test_bundle.py
- property-based tests of the file-name parsers and the CSV manifest reader:
  tests/data/test_parser_properties.py
"""
