"""One module per rule family; `context` turns a rule's verdict into the policy's actions."""
