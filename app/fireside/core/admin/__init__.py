"""What an organisation controls and audits: policy, model access checks, doctor."""
