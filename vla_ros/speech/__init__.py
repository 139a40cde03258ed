"""Offline speech -> command text. No rclpy here: the speech node is a thin adapter over this package."""
