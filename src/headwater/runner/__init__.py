"""Executing one run group: dispatch per river type, monitor cancel/timeout, record outcomes."""
