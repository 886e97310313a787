"""Pure, synchronous RFC 6455: frames, masking, rules, dissector, handshake, connection."""
