"""Mailpit (built by `make install`) takes email over SMTP and the `mailpit` fixture reads it back."""

import asyncio
import smtplib
from email.message import EmailMessage

from contracts.ids import new_id
from deploy.local.stack import Stack
from tests.helpers import Mailpit


def send_mail(port: int, to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"] = "Recovery Network <no-reply@recovery.network>"
    message["To"] = f"Someone <{to}>"
    message["Subject"] = subject
    message.set_content("Your meeting starts at 19:00.\n")
    message.add_alternative("<p>Your meeting starts at <b>19:00</b>.</p>\n", subtype="html")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.login("notifications", "any password")  # accepted without TLS, as the services may log in
        smtp.send_message(message)


async def test_a_multipart_email_is_read_back_with_its_text_and_html(stack: Stack, mailpit: Mailpit) -> None:
    to = f"member-{new_id()[-8:]}@example.org"
    lookalike = f"x-{to}"
    await asyncio.to_thread(send_mail, stack.mailpit_smtp_port, lookalike, "Not yours")
    await asyncio.to_thread(send_mail, stack.mailpit_smtp_port, to, "Meeting tonight")

    (summary,) = await mailpit.wait_for(to=to, count=1, timeout=10)
    assert summary["Subject"] == "Meeting tonight"
    assert summary["From"]["Address"] == "no-reply@recovery.network"
    message = await mailpit.message(summary["ID"])
    assert message["Text"].strip() == "Your meeting starts at 19:00."
    assert message["HTML"].strip() == "<p>Your meeting starts at <b>19:00</b>.</p>"
    assert [(p["Name"], p["Address"]) for p in message["To"]] == [("Someone", to)]
    assert (await mailpit.headers(summary["ID"]))["Subject"] == ["Meeting tonight"]

    await mailpit.clear(to=to)
    assert await mailpit.messages(to=to) == []
    assert [m["Subject"] for m in await mailpit.messages(to=lookalike)] == ["Not yours"]
    await mailpit.clear(to=lookalike)


async def test_mail_survives_a_restart_of_mailpit(stack: Stack, mailpit: Mailpit) -> None:
    to = f"member-{new_id()[-8:]}@example.org"
    await asyncio.to_thread(send_mail, stack.mailpit_smtp_port, to, "Kept")
    await mailpit.wait_for(to=to, timeout=10)
    stack.kill("mailpit")
    stack.respawn("mailpit")  # as `make run`'s supervisor does, on the same database
    assert [m["Subject"] for m in await mailpit.messages(to=to)] == ["Kept"]
    await mailpit.clear(to=to)
