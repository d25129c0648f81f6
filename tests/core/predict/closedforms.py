"""Reference values: the papers' closed forms, evaluated in arbitrary precision with mpmath.

Written directly from the published equations, in their own (untransformed) form, so they
check segsync.predict's log-space and Euler-transformed evaluation independently:

- Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An Alternative to the
  Pareto/NBD Model", Marketing Science 24(2): eq. 6 (likelihood), eq. 7 (E[X(t)]), eq. 10
  (conditional expectation);
- Fader, Hardie & Lee (2008), "Computing P(alive) Using the BG/NBD Model" (note): P(alive);
- Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note): the density of the
  mean spend and E(M | x, m) as a weighted average of the population mean and m.
"""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 40


def bgnbd_likelihood(
    r: float, alpha: float, a: float, b: float, x: float, t_x: float, T: float
) -> mp.mpf:
    """Eq. 6."""
    r, alpha, a, b, x, t_x, T = map(mp.mpf, (r, alpha, a, b, x, t_x, T))
    common = mp.gamma(r + x) * alpha**r / mp.gamma(r)
    alive = mp.beta(a, b + x) / mp.beta(a, b) / (alpha + T) ** (r + x)
    dead = mp.beta(a + 1, b + x - 1) / mp.beta(a, b) / (alpha + t_x) ** (r + x) if x > 0 else 0
    return common * (alive + dead)


def p_alive(r: float, alpha: float, a: float, b: float, x: float, t_x: float, T: float) -> mp.mpf:
    if x == 0:
        return mp.mpf(1)
    r, alpha, a, b, x, t_x, T = map(mp.mpf, (r, alpha, a, b, x, t_x, T))
    return 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))


def conditional_expectation(
    r: float, alpha: float, a: float, b: float, t: float, x: float, t_x: float, T: float
) -> mp.mpf:
    """Eq. 10."""
    r, alpha, a, b, t, x, t_x, T = map(mp.mpf, (r, alpha, a, b, t, x, t_x, T))
    z = t / (alpha + T + t)
    hyp = mp.hyp2f1(r + x, b + x, a + b + x - 1, z)
    numerator = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    denominator = 1 + (a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 0)
    return numerator / denominator


def population_expectation(r: float, alpha: float, a: float, b: float, t: float) -> mp.mpf:
    """Eq. 7."""
    r, alpha, a, b, t = map(mp.mpf, (r, alpha, a, b, t))
    hyp = mp.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)


def spend_density(p: float, q: float, v: float, x: float, m: float) -> mp.mpf:
    """The density of the mean spend m of x transactions (Fader & Hardie 2013)."""
    p, q, v, x, m = map(mp.mpf, (p, q, v, x, m))
    return (
        mp.gamma(p * x + q)
        / (mp.gamma(p * x) * mp.gamma(q))
        * v**q
        * m ** (p * x - 1)
        * x ** (p * x)
        / (v + x * m) ** (p * x + q)
    )


def expected_spend(p: float, q: float, v: float, x: float, m: float) -> mp.mpf:
    """E(M | x, m) as the note writes it: a weighted average of p·v/(q−1) and m."""
    p, q, v, x, m = map(mp.mpf, (p, q, v, x, m))
    population = p * v / (q - 1)
    weight = (q - 1) / (p * x + q - 1)
    return weight * population + (1 - weight) * m


def lifetime_value(
    bg: tuple[float, float, float, float],
    gg: tuple[float, float, float],
    x: float,
    t_x: float,
    T: float,
    m: float,
    *,
    horizon: float,
    periods: int,
    discount_rate: float,
) -> mp.mpf:
    """Σₖ E(M|x,m)·(E[Y(k·h/K)] − E[Y((k−1)·h/K)]) / (1+d)^k."""
    spend = expected_spend(*gg, x, m)
    total = mp.mpf(0)
    previous = mp.mpf(0)
    for k in range(1, periods + 1):
        t = mp.mpf(horizon) * k / periods
        cumulative = conditional_expectation(*bg, t, x, t_x, T)
        total += spend * (cumulative - previous) / (1 + mp.mpf(discount_rate)) ** k
        previous = cumulative
    return total
