"""Chooses MuJoCo's OpenGL backend before MuJoCo is imported, so offscreen rendering works headless.

MuJoCo reads `MUJOCO_GL` once, at import; unset, it uses GLFW, which needs a display, and a headless
process dies at its first render ("an OpenGL platform library has not been loaded"). Rule: a `MUJOCO_GL`
the user set is kept; with a display (DISPLAY / WAYLAND_DISPLAY) GLFW stays; otherwise EGL if an EGL device
display initialises (GPU or Mesa's software device), else OSMesa if libOSMesa loads, else nothing is set
and the first render fails with MuJoCo's own message. `vla_sim/__init__.py` calls `select_gl_backend()`,
so every importer of vla_sim (sim node, demo, env, tests) gets it before `import mujoco`.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from dataclasses import dataclass
from typing import Callable, Mapping

EGL_PLATFORM_DEVICE_EXT = 0x313F


@dataclass(frozen=True)
class GLChoice:
    """The OpenGL backend picked for MuJoCo and why, so the node can log its choice at start-up."""

    backend: str  # "egl", "osmesa", "glfw" (display) or "" (none found: MuJoCo's default, which will fail headless)
    reason: str  # why, for the node's start-up log


_choice: GLChoice | None = None


def egl_available() -> bool:
    """An EGL device display initialises: the same path MuJoCo's EGL context takes (eglQueryDevicesEXT +
    eglGetPlatformDisplayEXT(EGL_PLATFORM_DEVICE_EXT) + eglInitialize), probed cheaply with ctypes."""
    try:
        egl = ctypes.CDLL(ctypes.util.find_library("EGL") or "libEGL.so.1")
    except OSError:
        return False
    egl.eglGetProcAddress.restype = ctypes.c_void_p
    egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
    query_ptr = egl.eglGetProcAddress(b"eglQueryDevicesEXT")
    display_ptr = egl.eglGetProcAddress(b"eglGetPlatformDisplayEXT")
    if not query_ptr or not display_ptr:
        return False
    query = ctypes.CFUNCTYPE(ctypes.c_uint, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                             ctypes.POINTER(ctypes.c_int))(query_ptr)
    get_display = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p)(display_ptr)
    egl.eglInitialize.restype = ctypes.c_uint
    egl.eglInitialize.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    egl.eglTerminate.argtypes = [ctypes.c_void_p]
    devices = (ctypes.c_void_p * 8)()
    count = ctypes.c_int(0)
    if not query(8, devices, ctypes.byref(count)):
        return False
    for device in devices[:count.value]:
        display = get_display(EGL_PLATFORM_DEVICE_EXT, device, None)
        if display and egl.eglInitialize(display, None, None):
            egl.eglTerminate(display)
            return True
    return False


def osmesa_available() -> bool:
    """Whether libOSMesa loads (what PyOpenGL's osmesa platform, and so MuJoCo's OSMesa context, needs)."""
    for name in (ctypes.util.find_library("OSMesa"), "libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so"):
        if not name:
            continue
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def choose_gl_backend(env: Mapping[str, str], egl: Callable[[], bool] = egl_available,
                      osmesa: Callable[[], bool] = osmesa_available) -> GLChoice:
    """The backend for this environment (pure apart from the probes, which tests replace)."""
    if env.get("MUJOCO_GL"):
        return GLChoice(env["MUJOCO_GL"], "MUJOCO_GL set by the user")
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return GLChoice("glfw", "a display is set: MuJoCo's default (GLFW)")
    if env.get("PYOPENGL_PLATFORM", "egl") == "egl" and egl():
        return GLChoice("egl", "no display: EGL device initialises")
    if env.get("PYOPENGL_PLATFORM", "osmesa") == "osmesa" and osmesa():
        return GLChoice("osmesa", "no display and no EGL device: OSMesa (software)")
    return GLChoice("", "no display, no EGL device, no libOSMesa: install libegl1 or libosmesa6, or set MUJOCO_GL")


def select_gl_backend() -> GLChoice:
    """Choose once per process and export MUJOCO_GL (children inherit it). Too late if mujoco is already
    imported without MUJOCO_GL: then the choice says so and nothing is changed."""
    global _choice
    if _choice is not None:
        return _choice
    if "mujoco" in sys.modules and not os.environ.get("MUJOCO_GL"):
        _choice = GLChoice("", "mujoco was imported before vla_sim: its backend is already fixed (set MUJOCO_GL)")
        return _choice
    _choice = choose_gl_backend(os.environ)
    if _choice.backend in ("egl", "osmesa") and not os.environ.get("MUJOCO_GL"):
        os.environ["MUJOCO_GL"] = _choice.backend
    return _choice
