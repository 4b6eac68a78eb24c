"""The information-exchange network (情報提供ネットワークシステム): the legal table, the hub, copies and records."""
