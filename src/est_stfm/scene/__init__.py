"""Scenes: the scene file (dates, fine and coarse images, their encoding) and its reader."""

from __future__ import annotations

from est_stfm.scene.dates import user_date
from est_stfm.scene.options import SectionOptions
from est_stfm.scene.save import save_scene
from est_stfm.scene.scene import Scene, load_scene

__all__ = ["Scene", "SectionOptions", "load_scene", "save_scene", "user_date"]
