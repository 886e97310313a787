"""Capture files: each format in its own module, reading into and writing from records.

``jsonl`` is the capture's own format (``Capture.save`` / ``Capture.load``):
every record, lossless, credentials redacted unless asked for.
"""
