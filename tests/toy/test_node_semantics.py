"""The JavaScript rules the port relies on (``wsexplore.teaching.node``), each checked against ``node`` itself.

One ``node`` process evaluates a table of cases (Buffer reads and writes out
of range, ``toString(2)``, ``parseInt``, ``slice`` with NaN, UTF-8 decoding of
broken bytes, lone surrogates); the Python helpers must give the same value
or throw the same error.
"""

from __future__ import annotations

import json
import random
import subprocess
from typing import Any

import pytest

from wsexplore.teaching.node import (
    NaN,
    JSError,
    js_slice,
    parse_int_2,
    read_big_uint64_be,
    read_uint8,
    read_uint16_be,
    string_to_utf8,
    to_string_2,
    utf8_to_string,
    write_uint8,
)

_EVAL = r"""
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const run = (f) => { try { return { value: f() }; } catch (e) {
  return { error: (e.stack || String(e)).split('\n')[0] }; } };
const out = cases.map(([op, ...a]) => {
  switch (op) {
    case 'read8': return run(() => Buffer.from(a[0], 'hex').readUInt8(a[1]));
    case 'read16': return run(() => Buffer.from(a[0], 'hex').readUInt16BE(a[1]));
    case 'read64': return run(() => String(Buffer.from(a[0], 'hex').readBigUInt64BE(a[1])));
    case 'write8': return run(() => { const b = Buffer.alloc(2); b.writeUInt8(a[0], a[1]); return b.toString('hex'); });
    case 'bin': return run(() => a[0].toString(2));
    case 'parse2': return run(() => { const v = parseInt(a[0], 2); return Number.isNaN(v) ? 'NaN' : v; });
    case 'slice': return run(() => Buffer.from(a[0], 'hex').slice(a[1], a[2] === 'NaN' ? NaN : a[2]).toString('hex'));
    case 'utf8': return run(() => Buffer.from(a[0], 'hex').toString('utf8'));
    case 'from': return run(() => Buffer.from(JSON.parse(a[0]), 'utf8').toString('hex'));
  }
});
process.stdout.write(JSON.stringify(out));
"""


def _python(case: list[Any]) -> dict[str, Any]:
    op, *a = case
    try:
        if op == "read8":
            return {"value": read_uint8(bytes.fromhex(a[0]), a[1])}
        if op == "read16":
            return {"value": read_uint16_be(bytes.fromhex(a[0]), a[1])}
        if op == "read64":
            return {"value": str(int(read_big_uint64_be(bytes.fromhex(a[0]), a[1])))}
        if op == "write8":
            buf = bytearray(2)
            write_uint8(buf, a[0], a[1])
            return {"value": buf.hex()}
        if op == "bin":
            return {"value": to_string_2(a[0])}
        if op == "parse2":
            value = parse_int_2(a[0])
            return {"value": "NaN" if value != value else value}
        if op == "slice":
            return {"value": js_slice(bytes.fromhex(a[0]), a[1], NaN if a[2] == "NaN" else a[2]).hex()}
        if op == "utf8":
            return {"value": utf8_to_string(bytes.fromhex(a[0]))}
        if op == "from":
            return {"value": string_to_utf8(json.loads(a[0])).hex()}
    except JSError as error:
        return {"error": error.header}
    raise ValueError(op)


def _cases() -> list[list[Any]]:
    rng = random.Random(6455)
    cases: list[list[Any]] = []
    for n in range(0, 11):
        data = bytes(range(1, n + 1)).hex()
        for offset in range(0, 4):
            cases += [["read8", data, offset], ["read16", data, offset], ["read64", data, offset]]
    cases += [["write8", v, o] for v in (0, 255, 256, 300, 70000, 2**32, 2**32 + 5, 10**12) for o in (0, 1, 2)]
    cases += [["bin", v] for v in range(256)]
    cases += [["parse2", s] for s in ("", "0", "1", "0000101", "1111110", "1111111", "2", "10x1")]
    for data in ("", "00", "0102030405060708"):
        for start in (0, 2, 6, 100):
            for end in (0, 1, 4, 6, 10, 1000, -1, "NaN"):
                cases.append(["slice", data, start, end])
    tricky = ["e9", "c0af", "eda080", "f09f98", "f09f9880", "f4908080", "e282", "e282ac", "ff", "efbbbf41",
              "c3a9", "80", "f8888080", "e0809f"]
    cases += [["utf8", t] for t in tricky]
    cases += [["utf8", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12))).hex()] for _ in range(400)]
    cases += [["from", json.dumps(s)] for s in ("hello", "发送数据", "\ud800", "a\udc00b", "\U0001f600")]
    return cases


def test_the_javascript_rules_match_node() -> None:
    cases = _cases()
    result = subprocess.run(["node", "-e", _EVAL], input=json.dumps(cases), capture_output=True, text=True,
                            timeout=60, check=True)
    expected = json.loads(result.stdout)
    mismatches = [(case, want, _python(case)) for case, want in zip(cases, expected) if _python(case) != want]
    assert not mismatches, mismatches[:10]
    # The table reaches both outcomes of each Buffer rule (a value, and Node's error).
    kinds = {(case[0], "error" in want) for case, want in zip(cases, expected)}
    assert {("read8", True), ("read16", True), ("read64", True), ("write8", True), ("read64", False)} <= kinds
