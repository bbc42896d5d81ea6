"""Adapters from the domain's ports to outside libraries: each module imports its port and one library."""
