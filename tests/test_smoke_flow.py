"""Staff member takes the library self-assessment from start to finish."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.runtime import Runtime
from storage.models import Answer, Response, ResponseStatus
from tests.harness import Conversation, texts


def test_staff_member_completes_library_assessment_by_buttons(anna: Conversation, runtime: Runtime) -> None:
    anna.say("assess")
    anna.click("Digital competence for library staff")
    for _ in range(4):
        anna.press(anna.choices()[0].payload)
    for _ in range(24):
        replies = anna.click("5")
    assert "Done! Thank you, Anna." in texts(replies)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Answer)) == 24
        assert session.scalar(select(Response.status)) is ResponseStatus.COMPLETED
