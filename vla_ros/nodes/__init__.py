"""rclpy adapters over the vla_ros libraries: each node parses parameters, converts messages and calls a library."""
