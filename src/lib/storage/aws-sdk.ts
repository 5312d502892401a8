import {createRequire} from 'node:module'

/**
 * The parts of the AWS SDK's S3 client we use, loaded with require(). The package is CommonJS,
 * and importing it as ESM has Node scan its files for their export names before running them:
 * some 30 ms of every command that reaches a bucket, a twentieth of a restore from s3://. Types
 * still come from the package itself (`import type`).
 */
const sdk = createRequire(import.meta.url)('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3')

export const {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} = sdk
