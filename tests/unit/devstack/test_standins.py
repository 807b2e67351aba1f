"""What `make up` gives the intake's sender: the local mail catcher and SMS stand-in,
unless the environment names real ones; where they keep what they receive."""

from __future__ import annotations

from pathlib import Path

from devstack import standins


def test_the_sender_is_pointed_at_the_standins_with_a_key_kept_per_state(tmp_path: Path) -> None:
    env = standins.sender_env(tmp_path, {"ENTRAIDE_MAIL_CATCHER_PORT": "41025"})
    assert (env["ENTRAIDE_SMTP_HOST"], env["ENTRAIDE_SMTP_PORT"]) == ("127.0.0.1", "41025")
    assert env["ENTRAIDE_SMS_PROVIDER"] == "brevo"
    assert env["ENTRAIDE_SMS_API_URL"] == f"http://127.0.0.1:{standins.SMS_STANDIN.default_port}"
    assert len(env["ENTRAIDE_SMS_API_KEY"]) >= 24 and env["ENTRAIDE_MAIL_FROM"]
    assert standins.sender_env(tmp_path, {})["ENTRAIDE_SMS_API_KEY"] == env["ENTRAIDE_SMS_API_KEY"]
    assert (tmp_path / standins.SMS_KEY_FILE).stat().st_mode & 0o077 == 0


def test_a_real_smtp_server_or_sms_provider_is_kept(tmp_path: Path) -> None:
    real = {"ENTRAIDE_SMTP_HOST": "smtp.example.org", "ENTRAIDE_SMS_PROVIDER": "brevo"}
    env = standins.sender_env(tmp_path, real)
    assert "ENTRAIDE_SMTP_HOST" not in env and "ENTRAIDE_SMS_API_URL" not in env
    lines = standins.summary_lines(tmp_path, {**real, **env})
    assert any("unused: ENTRAIDE_SMTP_HOST is set" in line for line in lines)


def test_the_summary_says_where_the_mails_and_sms_are(tmp_path: Path) -> None:
    lines = "\n".join(standins.summary_lines(tmp_path, standins.sender_env(tmp_path, {})))
    assert f"caught mails in {tmp_path / 'mail'}/" in lines
    assert f"SMS received in {tmp_path / 'sms'}/sms.jsonl" in lines and "/messages" in lines
    argv = standins.MAIL_CATCHER.argv(tmp_path, {})
    assert argv[-2:] == ["--dir", str(tmp_path / "mail")] and "devstack.mail_catcher" in argv
