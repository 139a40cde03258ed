"""MuJoCo tabletop world for vla_ros: Gymnasium env, tasks, scripted expert, data sets (no rclpy)."""
