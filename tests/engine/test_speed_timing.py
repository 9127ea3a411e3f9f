"""mmbackbones.analysis.timing: the interleaved timing every speed tool
uses (no speed numbers asserted: only the protocol)."""
import pytest

from mmbackbones.analysis.timing import (Timed, compare, geomean,
                                         run_interleaved, time_interleaved)


def test_warms_up_then_interleaves_reversing_the_order():
    calls = []
    runs = time_interleaved({name: (lambda n=name: calls.append(n))
                             for name in 'abc'}, warmup=2, rounds=3)
    assert calls == list('aabbcc') + list('abc' 'cba' 'abc')
    assert [len(r.times) for r in runs.values()] == [3, 3, 3]
    assert all(t >= 0 for r in runs.values() for t in r.times)


def test_compare_and_throughput():
    a = Timed('a', lambda: None, times=[1.0, 3.0, 2.0])
    b = Timed('b', lambda: None, times=[4.0, 4.0, 8.0])
    result = compare(a, b)
    assert result['ratio'] == pytest.approx(0.5)
    assert result['fastest_ratio'] == pytest.approx(0.25)
    assert result['speedup'] == pytest.approx(2.0)
    assert a.per_second(8) == pytest.approx(4.0)
    assert geomean([2.0, 8.0]) == pytest.approx(4.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match='rounds must be >= 1'):
        run_interleaved([], warmup=0, rounds=0)
    with pytest.raises(ValueError, match='warmup must be >= 0'):
        run_interleaved([], warmup=-1, rounds=1)
    with pytest.raises(ValueError, match='positive'):
        geomean([1.0, 0.0])
