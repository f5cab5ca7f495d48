"""Scripts the conformance tests run in a subprocess, with a framework's released code first on the path."""
