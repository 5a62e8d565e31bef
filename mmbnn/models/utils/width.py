"""Channel counts under a width multiplier."""


def scaled_width(channels: int, widen_factor: float, minimum: int = 8) -> int:
    """``channels * widen_factor`` rounded to the nearest integer, at least
    ``minimum``."""
    return max(minimum, int(round(channels * widen_factor)))
