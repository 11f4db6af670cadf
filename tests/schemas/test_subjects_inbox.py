"""Reply inboxes and the hub's subjects: the prefixes NATS logins connect with."""

from __future__ import annotations

import pytest

from schemas.subjects import INBOX, every_subject, inbox_filter, inbox_prefix


def test_each_login_has_its_own_inbox_under_the_common_prefix() -> None:
    assert inbox_prefix("GT") == "_INBOX.GT"
    assert inbox_prefix("operator") == "_INBOX.operator"
    assert inbox_filter("GT") == "_INBOX.GT.>"


def test_no_login_means_every_inbox() -> None:
    assert inbox_prefix() == INBOX == "_INBOX"
    assert inbox_filter() == "_INBOX.>"
    assert every_subject() == "enlace.>"


@pytest.mark.parametrize("login", ["G.T", "*", ">", "", "a" * 65, "GT.>"])
def test_no_wildcard_or_dot_is_smuggled_into_an_inbox(login: str) -> None:
    with pytest.raises(ValueError, match="not a NATS login name"):
        inbox_prefix(login)
