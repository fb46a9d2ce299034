"""Scenes: the scene file (dates, fine and coarse images, their encoding) and its reader."""

from __future__ import annotations

from est_stfm.scene.scene import Scene, SectionOptions, load_scene, save_scene, user_date

__all__ = ["Scene", "SectionOptions", "load_scene", "save_scene", "user_date"]
