"""Capture files: each format in its own module, reading into and writing from records.

* ``jsonl``: the capture's own format (``Capture.save`` / ``Capture.load``):
  every record, lossless, credentials redacted unless asked for;
* ``pcap`` (with ``packets``, ``tcp``, ``boundary``, ``flows``, ``follower`` and
  ``tls``): pcap and pcapng packet captures in, TCP put back in order, every
  WebSocket connection read by the protocol's ``Connection``;
* ``pcap_out``: any capture out as TCP/IP flows in pcapng or pcap, for Wireshark;
* ``har``: the WebSocket messages a browser's developer tools exported.

Which one a file is, and which module writes a file, is decided in
:mod:`wsexplore.capture.files`.
"""
