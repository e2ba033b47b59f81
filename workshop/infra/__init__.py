"""Infrastructure: bringing the backing servers up (`workshop up`), checking them (`workshop doctor`), resetting a namespace, and saying how to fix each one."""
