"""Pure, synchronous RFC 6455: bytes in, values out; no sockets, no asyncio.

Where each thing lives:

- ``header``: the frame header's bits by name and the one parser, ``parse_header``.
- ``opcodes``: opcodes and close codes, their names and meanings.
- ``rules``: every rule a single frame can break; the dissector and the connection both ask it.
- ``errors``: the errors, each naming the field, the bit offset and the RFC section.
- ``frames``: the ``Frame`` value and its wire encoding; ``masking``: section 5.3.
- ``dissector``: any bytes -> labelled fields and the first rule broken; ``diagram`` draws them.
- ``connection``: the sans-I/O connection; ``states`` its states and every transition;
  ``events`` what it reports.
- ``deflate``: permessage-deflate (RFC 7692); ``handshake``: the opening handshake.
"""
