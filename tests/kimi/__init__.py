"""Tests of the chatplug-kimi distribution (a package, so its module names never clash with other suites)."""
