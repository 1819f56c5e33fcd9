"""CLK encoding, bit-identical to clkhash 0.18.3 (``clkhash.clk``), in the native engine.

``schema`` may be a dict (schema v1, v2 or v3), a JSON string, or a path to a schema file.
Results are ``bitarray`` objects when the bitarray package is installed (as clkhash returns),
otherwise ``bytes``.
"""

import json
import os

from anonlink_rs import _native


def _schema_json(schema):
    if isinstance(schema, dict):
        return json.dumps(schema)
    if isinstance(schema, (str, os.PathLike)) and os.path.exists(schema):
        with open(schema) as f:
            return f.read()
    if isinstance(schema, str):
        return schema
    raise TypeError("schema must be a dict, a JSON string or a path to a schema file")


def _secret(secret):
    return secret.decode("utf-8") if isinstance(secret, bytes) else str(secret)


def _split(data, size):
    records = [data[i:i + size] for i in range(0, len(data), size)]
    try:
        from bitarray import bitarray
    except ImportError:
        return records
    out = []
    for r in records:
        b = bitarray()
        b.frombytes(r)
        out.append(b)
    return out


def generate_clks(pii_data, schema, secret, validate=True):
    """CLKs of records: ``pii_data`` is a sequence of sequences of strings, one per feature."""
    data, size = _native.encode_records(
        [[str(v) for v in r] for r in pii_data], _schema_json(schema), _secret(secret), bool(validate)
    )
    return _split(data, size)


def generate_clk_from_csv(input_f, secret, schema, validate=True, header=True):
    """CLKs of a CSV file object or path; ``header`` is True (checked), ``"ignore"`` or False."""
    mode = {True: "check", "ignore": "ignore", False: "absent"}.get(header)
    if mode is None:
        raise ValueError(f"header must be False, True or 'ignore' but is {header!s}.")
    if isinstance(input_f, (str, os.PathLike)):
        with open(input_f, "rb") as f:
            raw = f.read()
    else:
        raw = input_f.read()
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
    data, size = _native.encode_csv(raw, _schema_json(schema), _secret(secret), mode, bool(validate))
    return _split(data, size)


__all__ = ["generate_clk_from_csv", "generate_clks"]
