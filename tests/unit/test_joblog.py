"""Logging: JSON lines to the log file, job messages by level, secrets redacted."""

from __future__ import annotations

import json

from podheitor.app import joblog


def _configure(tmp_path):
    sent: list[tuple[str, str]] = []
    log, destination = joblog.configure(lambda letter, text: sent.append((letter, text)),
                                                str(tmp_path / "b.log"), plugin="posix")
    return log, sent, destination, tmp_path / "b.log"


def test_levels_become_bacula_job_message_letters(tmp_path):
    log, sent, destination, _ = _configure(tmp_path)
    log.info("only in the log file")
    log.info("shown to the operator", job=True)
    log.warning("a warning")
    log.error("a per-file error")
    log.critical("the job cannot go on")
    log.error("kept out of the job log", job=False)
    destination.close()
    assert sent == [("I", "shown to the operator"), ("W", "a warning"),
                    ("Q", "a per-file error"), ("A", "the job cannot go on")]


def test_every_event_is_a_json_line_with_level_time_and_context(tmp_path):
    log, _, destination, path = _configure(tmp_path)
    log.warning("vanished", path="/x")
    destination.close()
    (line,) = path.read_text().splitlines()
    record = json.loads(line)
    assert record["event"] == "vanished" and record["level"] == "warning"
    assert record["path"] == "/x" and record["plugin"] == "posix" and "timestamp" in record


def test_secret_values_never_reach_the_log_file(tmp_path):
    log, _, destination, path = _configure(tmp_path)
    log.info("connecting", password="hunter2", api_key="k-123", encrypt_key="00ff",
             nested={"secret": "s3", "host": "h"}, keys=3)
    destination.close()
    text = path.read_text()
    for secret in ("hunter2", "k-123", "00ff", "s3"):
        assert secret not in text
    record = json.loads(text)
    assert record["nested"]["host"] == "h" and record["keys"] == 3


def test_the_log_file_is_created_private(tmp_path):
    log, _, destination, path = _configure(tmp_path)
    log.info("x")
    destination.close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_without_a_log_file_nothing_is_written_anywhere(tmp_path, capsys):
    sent: list[tuple[str, str]] = []
    log, destination = joblog.configure(lambda letter, text: sent.append((letter, text)))
    log.error("still a job message")
    destination.close()
    assert sent == [("Q", "still a job message")]
    assert capsys.readouterr() == ("", "")
