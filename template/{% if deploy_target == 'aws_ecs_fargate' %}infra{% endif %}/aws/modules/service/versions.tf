terraform {
  # The roots lock their state natively in S3 (1.10+); the workflows run 1.11.
  required_version = "~> 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}
