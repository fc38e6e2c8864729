"""Figures of the first chapters drawn from small synthetic results: what the captions
promise about them (no negative estimate drawn on a log axis, legends that keep every
panel's width, labelled ticks on a short log axis)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

import logloss  # noqa: E402
from logloss.experiments.result import Result  # noqa: E402


def _gns_result(two_batch):
    e = np.array([0, 1, 10, 100], dtype=float)
    rows = [dict(epoch=ep, two_batch=v, two_batch_se=abs(v) * 0.1 + 1, one_over_B=v,
                 one_over_B_se=abs(v) * 0.1 + 1) for ep, v in zip((1, 10, 100), two_batch)]
    return Result(name="gradient-noise-scale", scale="smoke",
                  arrays=dict(epochs=e, L=np.geomspace(1, 0.01, 4), noise=np.geomspace(10, 1, 4),
                              grad_sq=np.geomspace(1, 1e-3, 4)),
                  tables=dict(checkpoints=rows))


def test_negative_two_batch_estimates_are_not_drawn_on_the_log_axis():
    fig = logloss.plot(_gns_result([100.0, -5000.0, 300.0]))
    ax = fig.axes[1]
    drawn = [c for c in ax.containers if len(c.lines[0].get_xdata())]
    assert len(drawn) == 2
    for container in drawn:
        assert np.all(np.asarray(container.lines[0].get_ydata()) > 0)
        assert len(container.lines[0].get_xdata()) == 2  # the negative checkpoint is left out
    # every estimate negative: nothing drawn, both kinds still named in the legend
    fig = logloss.plot(_gns_result([-1.0, -2.0, -3.0]))
    texts = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert len(texts) == 3


def test_own_model_short_loss_axis_has_several_labelled_ticks():
    steps = np.arange(6) * 10
    L = np.geomspace(2.4, 1.5, 6)  # a fifth of a decade
    res = Result(name="own-model", scale="smoke",
                 arrays=dict(step=steps, L=L, noise=np.geomspace(80, 5, 6),
                             noise_scale=np.geomspace(100, 10, 6)),
                 tables=dict(first_passage=[dict(c=1.02, t_p=5.0, t_p_stderr=1.0, censored=0),
                                            dict(c=1.1, t_p=50.0, t_p_stderr=10.0, censored=2)]))
    fig = logloss.plot(res)
    fig.draw_without_rendering()
    labels = [t.get_text() for t in fig.axes[1].get_xticklabels() if t.get_text()]
    assert len(labels) >= 3, labels
    width = {round(ax.get_position().width, 3) for ax in fig.axes}
    assert len(width) == 1  # the first-passage legend sits above its panel, not beside it
