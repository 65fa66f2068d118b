"""OIIO's pending error message as text, never raising.

A damaged header can leave bytes that are not UTF-8 in OIIO's message (the garbled attribute name it
quotes); the Python binding's decode then raises UnicodeDecodeError, so a damaged file became an
"internal error" instead of "cannot read image ... (check the file is a complete image)".
"""

from __future__ import annotations

import OpenImageIO as oiio

GARBLED = "its header holds garbled text (bytes that are not UTF-8), so it is damaged"


def error_text(source=None) -> str:
    """``source.geterror()`` (an ImageInput/ImageBuf/ImageOutput), or OIIO's global ``geterror()``."""
    try:
        text = source.geterror() if source is not None else oiio.geterror()
    except UnicodeDecodeError:
        return GARBLED
    return text.strip() if isinstance(text, str) else ""
