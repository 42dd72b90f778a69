"""A clock the test moves by hand."""


class Clock:
    """A callable clock that stays at `now` until the test changes it."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
