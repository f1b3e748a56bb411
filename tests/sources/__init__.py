"""Tests of btcflow_nb.sources (a package, so that test module names such as test_cli may
repeat in other test folders)."""
