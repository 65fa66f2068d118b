"""Engine service: loopback JSON-lines server, job queue and the stdlib client (docs/PROTOCOL.md).

Import the submodules directly; ``protocol``, ``client`` and ``connection`` stay stdlib-only so the
Blender add-on can copy them, which is why this package imports nothing eagerly.
"""
