"""The house chart theme is seaborn's whitegrid theme with the house palette and sizes, set
without importing seaborn (or pyplot) in every report kernel."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_theme_sets_what_seaborn_s_set_theme_would():
    # In a fresh interpreter: the house theme, then seaborn's own set_theme with the house
    # overrides on top (what apply_theme did before), each from matplotlib's defaults.
    script = textwrap.dedent(
        """
        import sys
        import matplotlib
        from helpers.present import theme
        theme.set_notebook_css(False)
        matplotlib.rcdefaults()
        theme.apply_theme()
        assert "seaborn" not in sys.modules and "matplotlib.pyplot" not in sys.modules
        ours = dict(matplotlib.rcParams)

        import seaborn as sns
        matplotlib.rcdefaults()
        sns.set_theme(style="whitegrid", palette=theme.PALETTE, context="notebook")
        house = {k: ours[k] for k in ("figure.figsize", "figure.dpi", "savefig.dpi",
                 "axes.titlesize", "axes.titleweight", "axes.labelsize", "axes.spines.top",
                 "axes.spines.right", "font.family", "svg.hashsalt")}
        matplotlib.rcParams.update(house)
        theirs = dict(matplotlib.rcParams)
        differ = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
        print(differ)
        print(theirs["image.cmap"], ours["image.cmap"])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    # only the colormap of images: seaborn's "rocket" exists once seaborn is imported
    assert out == ["['image.cmap']", "rocket viridis"]
