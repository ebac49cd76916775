print("restore-bench: todo")
