"""The servers' web config: a bcrypt hash whose salt comes from the user and the stack, never
from the password, so that one `pulumi up` after another renders the same file and two stacks
given one password render different ones."""

from __future__ import annotations

import bcrypt
import yaml

from monitoring.webauth import AUTHENTICATED, stack_of, user_of, web_config

PASSWORD = "one-password-for-both-stacks"


def _hash(server: str, rendered: str) -> str:
    users: dict[str, str] = yaml.safe_load(rendered)["basic_auth_users"]
    return users[server]


def test_the_same_stack_renders_the_same_file_and_the_password_logs_in() -> None:
    stack = stack_of("shop", "staging")
    for server in AUTHENTICATED:
        first, again = web_config(server, PASSWORD, stack), web_config(server, PASSWORD, stack)
        assert first == again
        assert bcrypt.checkpw(PASSWORD.encode(), _hash(user_of(server), first).encode())


def test_two_stacks_with_one_password_get_different_hashes() -> None:
    for server in AUTHENTICATED:
        staging = _hash(server, web_config(server, PASSWORD, stack_of("shop", "staging")))
        production = _hash(server, web_config(server, PASSWORD, stack_of("shop", "production")))
        other = _hash(server, web_config(server, PASSWORD, stack_of("blog", "staging")))
        assert len({staging, production, other}) == 3


def test_the_salt_says_nothing_about_the_password() -> None:
    # bcrypt writes its salt in clear: the first 29 characters ($2b$NN$ + 22).
    stack = stack_of("shop", "staging")
    for server in AUTHENTICATED:
        one = _hash(server, web_config(server, PASSWORD, stack))
        other = _hash(server, web_config(server, PASSWORD + "-rotated", stack))
        assert one[:29] == other[:29]
        assert one != other
