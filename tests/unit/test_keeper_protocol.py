"""The keeper's protocol as pure functions: a request's bytes, an answer's parts, the attach stream's frames,
and a timestamp rewrite as the clock's keeper runs it."""

from __future__ import annotations

import struct

from chaos.faults.clock import timestamp_text, write_script
from chaos.faults.keeper import LOOP, Script, frames, parse_answer, request_text


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + struct.pack(">I", len(payload)) + payload


def test_a_request_is_a_header_with_both_line_counts_then_the_lines():
    assert request_text("ab-1", Script("echo one\necho two\n", after="echo three")) == \
        b"ab-1 2 1\necho one\necho two\necho three\n"


def test_a_request_with_nothing_afterwards_says_zero():
    assert request_text("ab-2", Script("true")) == b"ab-2 1 0\ntrue\n"


def test_the_loop_reads_what_the_header_says():
    assert "read -r tag now after" in LOOP and 'lines "$now" /tmp/now' in LOOP and 'lines "${after:-0}"' in LOOP
    assert "(set -e; . /tmp/now)" in LOOP and 'echo "$tag ok"' in LOOP and 'echo "$tag fail' in LOOP


def test_answers_are_parsed_to_tag_outcome_and_message():
    assert parse_answer("ab-1 ok\n") == ("ab-1", True, "")
    assert parse_answer("ab-2 fail iptables-restore: line 2 failed\n") == ("ab-2", False, "iptables-restore: line 2 failed")
    assert parse_answer("sh: 1: noise\n")[0] == "sh:"  # a line that is no answer carries no tag of ours


def test_frames_give_standard_output_and_error_and_keep_an_unfinished_frame():
    whole = frame(1, b"ab-1 ok\n") + frame(2, b"warning\n")
    partial = frame(1, b"ab-2 ok\n")
    out, rest = frames(bytearray(whole + partial[:5]))
    assert out == b"ab-1 ok\nwarning\n" and bytes(rest) == partial[:5]
    out, rest = frames(rest + bytearray(partial[5:]))
    assert out == b"ab-2 ok\n" and rest == bytearray()


def test_both_parts_as_one_script_where_there_is_no_keeper():
    assert Script("a\n").whole() == "a\n"
    assert Script("a\n", after="b\n").whole() == "a\n( b\n) || true\n"


def test_a_timestamp_rewrite_is_written_aside_then_renamed():
    assert write_script("/faketime/web.ts", timestamp_text(-2.5)) == (
        "printf '%s\\n' -2.500000 > /faketime/web.ts.new\nmv -f /faketime/web.ts.new /faketime/web.ts\n")
