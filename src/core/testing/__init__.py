"""Testing kit for connector authors: the simulator base and the conformance suite."""
