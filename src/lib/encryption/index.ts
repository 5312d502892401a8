/** age encryption of backups (age-encryption.org/v1), interchangeable with the `age` tool. */
export {decryptFile, decryptHead} from './decrypt.js'
export {encryptFile, type EncryptResult} from './encrypt.js'
export {checkFraming, openEnds} from './ends.js'
export {IdentitySet, loadIdentities} from './identities.js'
export {openPlaintext, unlockFile} from './plain-reader.js'
export {type AgeRecipient, parseRecipients, readRecipientsFile} from './recipients.js'
export {CHUNK_SIZE} from './stream.js'
