"""The acceptance suite: `pytest validation/ --hosts='astro*'` checks every node against its pillar."""
