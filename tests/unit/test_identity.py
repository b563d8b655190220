"""The names processes, tokens and leases carry are built and read in one place."""

from __future__ import annotations

import os
import subprocess

from axiomd import identity
from axiomd.identity import Owner


def test_a_token_names_the_process_that_made_it() -> None:
    assert identity.token_owner(identity.new_token()) == Owner(identity.host(), os.getpid(),
                                                               identity.INSTANCE)


def test_host_names_with_dots_are_read_from_the_right() -> None:
    assert identity.owner_of("render.studio.local.4242") == Owner("render.studio.local", 4242)


def test_anything_else_has_no_owner() -> None:
    assert identity.owner_of("not-a-process") is None


def test_what_this_process_holds_is_never_taken_as_left_behind() -> None:
    assert not identity.left_by_dead_process(identity.owner_of(identity.process_name()))


def test_an_earlier_process_with_this_pid_is_taken_as_dead() -> None:
    """A container's PID 1 after a restart is the same host and pid, another instance."""
    assert identity.left_by_dead_process(Owner(identity.host(), os.getpid(), "i0000000"))


def test_names_from_before_instances_are_still_read() -> None:
    assert identity.owner_of("render01.4242") == Owner("render01", 4242)


def test_what_a_dead_process_of_this_host_left_is_left_behind() -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    assert identity.left_by_dead_process(Owner(identity.host(), child.pid))


def test_another_hosts_processes_cannot_be_judged_from_here() -> None:
    assert not identity.left_by_dead_process(Owner("some-other-host", 1))
