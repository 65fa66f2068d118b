"""VToonify Studio engine: stylizes portrait video with VToonify (or the classic backend).

Importing this package needs no GPU, compiler, bpy or Qt.
"""

__version__ = "0.1.0"
