"""Simulated students x teachers within schools: two crossed factors whose crossing is local.

Education, health-services and panel data often cross two factors only within a higher
unit: students are taught by several teachers of their own school, patients see several
doctors of their own practice, raters judge the targets of their own panel. The later
factor's levels then co-occur (through the first factor) with few others, so the Schur
complement of the later term after eliminating the first is sparse, unlike ratings-like
data where a few very active users connect most items (``_ratings.py``).

:func:`students_teachers` draws ``num_teachers`` teachers in schools of
``teachers_per_school``, schools grouped in districts of ``schools_per_district``, and
``students_per_teacher * num_teachers`` students, each in one school; every student
has ``classes`` rows, one per teacher drawn from the student's school, except that with
probability ``mobility`` a row's teacher is drawn from another school of the same district
(students who change schools or take a class elsewhere). Every teacher has at least one row
(the first row of student ``j`` has teacher ``j`` for ``j < num_teachers``).
The response is

.. math::

    y = 2 + 0.5 x + s_{student} + (t_{0,teacher} + t_{1,teacher} x) + c_{school} + \\varepsilon,\\quad
    s \\sim N(0, 0.6^2),\\ t_0 \\sim N(0, 0.4^2),\\ t_1 \\sim N(0, 0.2^2),\\
    c \\sim N(0, 0.3^2),\\ \\varepsilon \\sim N(0, 1),

with ``x`` standard normal per row (``corr(t_0, t_1) = 0.3``). The generator is
deterministic for a given ``seed`` (NumPy's PCG64) and uses only NumPy.

Run as a script to write a CSV or Parquet file::

    python benchmarks/_nested_crossed.py 20000 out.parquet
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["students_teachers", "write_fixture"]


def students_teachers(num_teachers: int, *, students_per_teacher: int = 5, classes: int = 4,
                      teachers_per_school: int = 20, schools_per_district: int = 10, mobility: float = 0.1,
                      seed: int = 1, frame: bool = True):
    """Students crossed with teachers within schools (see the module notes).

    Parameters
    ----------
    num_teachers : int
        Teachers (a multiple of ``teachers_per_school`` is not needed: the last school is smaller).
    students_per_teacher, classes : int
        Students per teacher (at least 1) and rows per student.
    teachers_per_school, schools_per_district : int
        Sizes of the nested units within which teachers and students cross.
    mobility : float
        Probability that a row's teacher comes from another school of the student's district.
    seed : int
        Seed of NumPy's default generator.
    frame : bool
        A pandas DataFrame (columns ``y``, ``x``, ``student``, ``teacher``, ``school``; the
        factors as integer codes) or, with False, a dict of NumPy arrays.

    Returns
    -------
    DataFrame or dict
    """
    rng = np.random.default_rng(seed)
    num_students = students_per_teacher * num_teachers
    num_schools = -(-num_teachers // teachers_per_school)
    school_of_teacher = np.arange(num_teachers) // teachers_per_school
    first = np.arange(num_schools) * teachers_per_school
    size = np.minimum(first + teachers_per_school, num_teachers) - first
    school = rng.integers(0, num_schools, num_students)
    school[:num_teachers] = school_of_teacher  # student j < num_teachers has teacher j in its first row
    student = np.repeat(np.arange(num_students), classes)
    row_school = school[student]
    move = rng.random(student.size) < mobility
    district = row_school // schools_per_district
    lo = district * schools_per_district
    hi = np.minimum(lo + schools_per_district, num_schools)
    other = lo + rng.integers(0, np.iinfo(np.int64).max, student.size) % (hi - lo)
    row_school = np.where(move, other, row_school)
    teacher = first[row_school] + rng.integers(0, np.iinfo(np.int64).max, student.size) % size[row_school]
    teacher[np.arange(num_teachers) * classes] = np.arange(num_teachers)  # every teacher occurs
    x = rng.standard_normal(student.size)
    s = 0.6 * rng.standard_normal(num_students)
    cov = np.array([[0.16, 0.3 * 0.4 * 0.2], [0.3 * 0.4 * 0.2, 0.04]])
    t = rng.standard_normal((num_teachers, 2)) @ np.linalg.cholesky(cov).T
    c = 0.3 * rng.standard_normal(num_schools)
    y = (2.0 + 0.5 * x + s[student] + t[teacher, 0] + t[teacher, 1] * x + c[school_of_teacher[teacher]]
         + rng.standard_normal(student.size))
    out = {"y": y, "x": x, "student": student, "teacher": teacher, "school": school_of_teacher[teacher]}
    if not frame:
        return out
    import pandas as pd

    return pd.DataFrame(out)


def write_fixture(path: str = "tests/fixtures/lmm/students_teachers.csv") -> None:
    """The committed test data (``tools/fixtures/lmer_sparse.R`` fits it with lme4): 300 teachers
    (4,800 rows, 1,200 students), seed 7, numbers with 10 significant digits."""
    students_teachers(300, students_per_teacher=4, seed=7).to_csv(path, index=False, float_format="%.10g")


def _main(argv):
    df = students_teachers(int(argv[0]))
    if argv[1].endswith(".csv"):
        df.to_csv(argv[1], index=False)
    else:
        df.to_parquet(argv[1], index=False)


if __name__ == "__main__":
    _main(sys.argv[1:])
