"""The supervisor's restart back-off (its restarts of real processes: test_embedded.py)."""

from app.core.supervisor import Backoff


def test_the_back_off_doubles_while_a_process_keeps_dying_soon_and_resets_once_it_ran_a_while():
    backoff = Backoff()
    backoff.started = 0.0
    delays = []
    for died_at in (5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 55.0, 58.0):  # each restart dies within a minute
        delays.append(backoff.next_delay(died_at))
        backoff.started = died_at
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.next_delay(58.0 + 61) == 1  # it ran for over a minute: a fresh start
